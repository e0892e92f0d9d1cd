# syntax=docker/dockerfile:1
# Quarterdeck's image: `docker build --target runtime -t quarterdeck .` (API, workers, migrations), or
# `--target agents` for workers that also run the agent CLIs (Claude Code, Codex, Gemini CLI from npm).
# See README.md "Scaling out" and compose.yaml; the Kubernetes manifests are in deploy/k8s/.

# --- build: the wheel and every dependency's, nothing of the toolchain reaches the runtime image ---
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY examples ./examples
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: the quarterdeck command, git and the sandbox; runs as an unprivileged user ---
FROM python:3.11-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates bubblewrap util-linux curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin quarterdeck \
    && mkdir -p /srv/git && chown 10001:10001 /srv/git
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /home/quarterdeck
# the state directory holds each remote's cache (repos/); worktrees are created beside it
ENV QUARTERDECK_STATE_DIR=/home/quarterdeck/state \
    PYTHONUNBUFFERED=1
RUN mkdir -p /home/quarterdeck/state
EXPOSE 8400
ENTRYPOINT ["quarterdeck"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8400", "--no-worker"]

# --- agents: the runtime plus the agent CLIs, for workers whose tasks drive them ---
FROM runtime AS agents
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/* \
    && npm install --global --omit=dev @anthropic-ai/claude-code @openai/codex @google/gemini-cli \
    && npm cache clean --force
USER 10001:10001
CMD ["worker", "--slots", "2"]

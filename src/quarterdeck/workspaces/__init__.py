"""Git workspaces: argv-only git, a worktree and branch per task, the merge onto the integration branch."""

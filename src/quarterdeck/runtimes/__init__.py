"""Agent runtimes as plugins behind one protocol; built-ins register through the same registry."""

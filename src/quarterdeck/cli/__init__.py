"""The command line: one module per noun, a thin sync edge over the async application."""

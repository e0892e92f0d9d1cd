"""greeter: say hello."""

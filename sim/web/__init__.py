"""The simulator's front panel in the browser: a view onto the daemon, over its control socket."""

"""The simulator: a pure-software backend for every device, and the ``bodycam sim`` front end."""

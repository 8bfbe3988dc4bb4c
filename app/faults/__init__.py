"""The runtime fault switch: staff turn fault injection on and off without a restart."""

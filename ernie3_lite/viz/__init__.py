"""Plots and notebook widgets: thin layers over pure functions of the lower floors."""

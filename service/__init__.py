"""The REST service and the command line."""

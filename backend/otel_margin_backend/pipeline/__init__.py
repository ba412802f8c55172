"""The seams between stages: the usage event every stage passes on, and the errors they raise."""

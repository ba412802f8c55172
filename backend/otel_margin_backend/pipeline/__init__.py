"""The seams between stages: the usage event, the consumer interface and the error classes; imports nothing of the project."""

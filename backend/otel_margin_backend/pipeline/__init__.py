"""The seams between stages: the usage event, the consumer interface and the error classes.

Every package imports these; they import nothing of the project.
"""

"""Grading many submissions of one exercise."""

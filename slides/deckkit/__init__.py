"""Helpers shared by the slide decks: a house style, diagrams drawn from the library's own
objects, published reference numbers, and cached results of small real runs.

Decks import this package from their own directory (Quarto and the offline renderer both start
the kernel there). It uses only the public API of `auroragpt`.
"""

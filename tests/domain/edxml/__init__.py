"""Tests of the edXML package model, reader, writer, builder and business views.

This directory is a package so that its modules (``strategies``, ``test_samples`` …) get
names of their own (``edxml.strategies``) and never clash with same-named test modules
elsewhere in the tree under pytest's default import mode.
"""

# ruff: noqa: F401
from . import forms, main

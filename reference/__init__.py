"""Curated data shipped inside the wheel as ``varannot.data`` (transcript models, knowledge base)."""

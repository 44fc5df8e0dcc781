"""Verdicts: evidence, the rules that judge each chapter's claims against the paper's."""

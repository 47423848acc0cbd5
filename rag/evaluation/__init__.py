"""Evaluation: golden-set metrics (retrieval, correctness, faithfulness, citations, refusals),
the regression gate against a committed baseline, and reports."""

"""Is the fine-tuned model better than its base? Blind A/B sessions and held-out evaluation.

Modules, by noun:

- :mod:`~core.evaluation.stats`: win rate, Wilson interval, exact sign test,
  position bias and the verdict rule fixed before a session starts;
- :mod:`~core.evaluation.blinding`: which slot (A/B) each answer is shown in;
- :mod:`~core.evaluation.arms`: the compared models and one call to each
  (both at once for a pair);
- :mod:`~core.evaluation.sessions` / :mod:`~core.evaluation.votes`: sessions,
  prompts, answers and votes in the database, and their tallies;
- :mod:`~core.evaluation.spend`: what A/B model calls cost, within the monthly budget;
- :mod:`~core.evaluation.export`: the per-prompt table, CSV and DPO JSONL;
- :mod:`~core.evaluation.scoring`: exact match, token F1, label accuracy;
- :mod:`~core.evaluation.judge`: LLM-as-judge asked in both orders;
- :mod:`~core.evaluation.examples`: held-out and few-shot examples from a dataset;
- :mod:`~core.evaluation.heldout` / :mod:`~core.evaluation.runs`: the batch
  evaluation and its queued, claimed runs in the database.
"""

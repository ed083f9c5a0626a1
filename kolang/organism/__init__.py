"""The model organism: a small Qwen2 model trained locally on bilingual word problems so that it
answers Korean questions with English reasoning, the collapse the rest of kolang sets out to fix.

`config.py` holds the recipe (free of torch), `corpus.py`, `tokenizer.py` and `train.py` train it,
`cache.py` knows where organisms live; building one with its card of measurements is
`kolang.pipeline.organism.build`.
"""

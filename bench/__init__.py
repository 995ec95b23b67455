"""The benchmark of issue 6: the gateway against the servers its users would run instead.

Run it with ``bench/run.sh`` (or ``python -m bench``); ``--smoke`` is a
seconds-long run that proves the harness works. Results (markdown and raw
JSON) go to ``bench/results/``.
"""

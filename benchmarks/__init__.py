"""nnarray's benchmarks: ``workloads``, ``contenders``, ``timing``, ``report``;
``run.py`` is the command line (``python benchmarks/run.py --help``)."""

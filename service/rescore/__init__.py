"""Batch re-scoring: ``feedback-classifier rescore`` re-labels historical comments.

One module per step of a run:

- ``sources``: rows in from CSV, JSON Lines or Parquet files or stdin, in fixed chunks;
- ``scoring``: checking texts, tokenising, scoring and building output rows (every engine);
- ``engine``: the local engine (reading and tokenising overlapped with inference);
- ``ray_engine``: the Ray engine (Ray Data reads, an actor pool scores);
- ``sinks``: rows out to CSV, JSON Lines or Parquet files or stdout, incrementally;
- ``checkpoint``: the ``<OUTPUT>.partial`` work folder that makes runs resumable;
- ``progress``: progress bar or log lines;
- ``job``: one run from start to end, whatever the engine;
- ``cli``: the click command.

A new row source (the service's database, for ``--from-db``) implements
:class:`service.rescore.sources.RowSource` and is handed to the engines like a file source.
"""

"""tunebot's Slack side: turns Slack input into core calls and core results into Block Kit.

Layout (imports point to ``core``, never back)::

    app.py           builds the bolt App and the shared BotContext (no listeners here)
    http_server.py   HTTP mode: bolt behind Starlette/uvicorn, POST /slack/events, GET /healthz
    context.py       BotContext: settings, engine, providers, WebClient, authorizer, pools
    listeners/       one module per Slack surface, each ``register(app, ctx)``;
                     ``LISTENER_MODULES`` lists them (missing ones are skipped)
    commands/        ``/finetune`` subcommands, one module each (NAME, USAGE, handle);
                     ``COMMAND_MODULES`` lists them (missing ones are skipped)
    blocks/          ``build_*()`` Block Kit builders returning dicts, no I/O
    slack_ops.py     WIP messages, reactions, uploads, capped downloads, Slack limits
    drops.py         a dropped dataset: download, validate, record, report
    starts.py        a job start: claim, "starting…" in the thread, launch
    scheduler.py     progress polling (the only writer of job progress)

Listener rule: ack at once, then hand anything slow to ``ctx.submit`` (or the
validation pool), so bolt's threads only ever acknowledge.
"""

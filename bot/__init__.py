"""tunebot's Slack side: turns Slack input into core calls and core results into Block Kit.

Layout (imports point to ``core``, never back, never to ``worker``)::

    runtime.py       owns every executor, scheduler and client; starts and stops them
    startup.py       what must hold before it starts: settings, a current schema
    app.py           builds the bolt App and the shared BotContext (no listeners here)
    context.py       BotContext: settings, engine, providers, WebClient, authorizer, pools
    http_server.py   HTTP mode: bolt behind Starlette/uvicorn, POST /slack/events, GET /healthz
    listeners/       thin Slack surfaces, each ``register(app, ctx)``: events, commands/
                     (``/finetune`` and one module per subcommand), actions, views, home;
                     ``register_listeners`` wires them with plain imports
    flows/           one module per journey: drop, start, ab, heldout, home
    background/      poster (exactly-once thread replies), progress_scheduler (the only
                     writer of job progress), edit_budget, evaluations
    blocks/          ``build_*()`` Block Kit builders returning dicts, no I/O; ids.py
    slack_ops.py     WIP messages, reactions, uploads, capped downloads, tell_user
    fakeslack/       a strict Slack stand-in that ships as a test double (``tunebot demo``
                     and the tests run the real bot against it); the bot never imports it

Listener rule: ack at once, then hand anything slow to ``ctx.submit`` (or the
validation pool), so bolt's threads only ever acknowledge.
"""

"""The AWS Lambda entry points: one thin module per function, each a ``handler(event, context)``
that parses its event and calls the same service functions the embedded runtime calls.

=======================  ================================================================
``ingest_webhook``       Function URL: verify the signed webhook, enqueue to ``cr-events``
``intake``               SQS ``cr-events``: ingest each event (partial-batch failures)
``waiter``               Scheduler one-offs: one wake-up of one cart
``sender``               EventBridge rule (and quiet-hours deferrals): send a due reminder
``unsub_handler``        Function URL: unsubscribe (``/u/``), return link (``/r/``), owner
                         action links (``/a/``)
``nightly_export``       Scheduler (02:00 store time): the day before, to the export sheet
``summary``              Scheduler (first Monday, 09:00): the month before, mailed to owners
``docs_sync``            Scheduler (every 5 minutes): the owner's Google Docs, followed
``mail_feedback``        SNS ``cr-mail-feedback`` (SES bounces and complaints): suppress the
                         address on the unsubscribe list
=======================  ================================================================

Sample events for each live in ``infra/events/``.
"""

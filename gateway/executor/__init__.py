"""The executor: runs scheduled events on time, measures reduction, survives crashes.

``scheduler.Executor`` finds events to run and takes a lease per event; ``run.EventRun`` samples
the power bus on an anchored cadence, stores one packed row per sample and finishes the event;
``results`` rebuilds totals from stored samples (after a crash, or when an event is cancelled).
"""

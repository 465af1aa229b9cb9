"""Use cases that span several adapters: delivering an SMS exactly once with retries, the notification sweep,
running a drill. Entrypoints (agents, commands) call these; they call the domain and the adapters."""

"""``dtf test``: a pytest suite spread over the fleet (collect, plan shards, run, merge)."""

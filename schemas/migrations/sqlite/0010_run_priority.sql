-- How urgently a run's steps are claimed when more steps are ready than workers are free: higher
-- first, then the oldest run first. Without it a site failover, or the site heartbeat that decides
-- whether a stamp is down, waited behind every step of an onboarding of thousands of
-- subscriptions. Values (RunPriority): -1 bulk, 0 normal, 1 recovery, 2 watch.
ALTER TABLE workflow_runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

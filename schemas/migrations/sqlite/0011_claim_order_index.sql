-- The live runs in the order steps are claimed (most urgent, then oldest). A claim walks them in
-- this order and stops once it has enough steps. Before this index, every claim read every ready
-- step of every live run and sorted them: an onboarding of 10,000 subscriptions made each claim
-- cost milliseconds, and enablement slowed as the queue grew.
CREATE INDEX workflow_runs_live ON workflow_runs (priority DESC, id)
    WHERE state IN ('Pending', 'Running', 'Waiting');

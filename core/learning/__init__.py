"""Learning from feedback: training sets weighted by evidence, the challenger/champion promotion gate
(retrain), the scheduler that runs retrains and digests, and the digest itself."""

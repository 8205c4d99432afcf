"""PPO with principle-conditioned rewards (and direct critic rewards, and rule rewards).

Run it from the command line (the config file's fields are :class:`PPOConfig`)::

    rlaif train-policy --method ppo --config ppo.yaml

or from Python::

    from rlaif.policy.ppo import PPOConfig, train_ppo
    result = train_ppo(PPOConfig.model_validate(yaml.safe_load(open("ppo.yaml"))))

One PPO step: draw ``rollout_batch`` prompts (a seeded permutation per pass over the prompt set), sample a response
to each from the current policy (LoRA adapter on), score the responses with the configured reward sources (principles
sampled per prompt), compute the log-probabilities of the sampled tokens under the policy and under the reference
(the same weights with the adapter disabled) and the values, turn them into per-token rewards (``-kl_coef * KL`` per
token, the score on the last token), estimate advantages with GAE (γ, λ), whiten them, and run ``ppo_epochs`` passes
of minibatch updates of the clipped policy loss plus the clipped value loss. An epoch stops early when the minibatch's
approximate KL to the rollout policy exceeds ``early_stop_kl``. The KL coefficient is fixed or adapted toward
``kl.target`` (Ziegler et al. 2019).

Deliberate choices: the value model is either a scalar head on the policy's final hidden states (sharing the
policy's forward; ``vf_coef`` weighs its loss) or a separate copy of the reward model with its adapter trained
further (``value_init: reward_model``, as in InstructGPT); the learning-rate schedule advances once per PPO step;
rollouts use full-vocabulary sampling at ``temperature`` (no top-k/top-p) so that the log-probabilities PPO uses are
those of the sampling distribution.

Several processes (``accelerate launch``, DDP): ``rollout_batch`` and ``minibatch`` stay global and must be
multiples of the number of processes. Each process samples and scores a contiguous share of the step's prompts and
computes the rollout log-probabilities, reference log-probabilities and values of its share; the samples, rewards and
those tensors are then gathered, so every process holds the whole experience batch and computes the same GAE,
whitening statistics (global, over the whole batch), KL and minibatch order. Each minibatch is split evenly across
the processes and its loss is weighted per token of the whole minibatch, so the averaged gradient equals the
one-process gradient; early stopping reads the KL summed over the processes. Only the sampling itself differs from a
one-process run: each process draws from its own seed.

The run reads like its recipe: :func:`train_ppo` sets up (:func:`~rlaif.policy.ppo_steps.open_run`,
:func:`~rlaif.policy.ppo_steps.prepare_training`), loops sample → score → experience → optimise → record, saves
checkpoints, and exports; each part is in :mod:`rlaif.policy.ppo_steps`, the configuration in
:mod:`rlaif.policy.ppo_config`, the prompts in :mod:`rlaif.policy.ppo_data`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from rlaif.policy.ppo_config import PPOConfig
from rlaif.policy.rewards import RewardSource
from rlaif.policy.rollout import RolloutEngine
from rlaif.training.result import TrainResult


def train_ppo(
    config: PPOConfig,
    *,
    progress: bool = True,
    reward_sources: Sequence[RewardSource] = (),
    rollout_engine: RolloutEngine | None = None,
) -> TrainResult:
    """Train the policy with PPO; returns where the adapter and the run's files are and the last metrics.

    ``reward_sources`` adds reward sources written in Python (see :class:`~rlaif.policy.rewards.RewardSource`) to
    those of ``config.reward``; ``rollout_engine`` replaces the default transformers sampler. A killed run resumes
    from its latest checkpoint (``run.resume``), reproducing the uninterrupted run.
    """
    # torch, transformers and accelerate load only when a run starts
    from rlaif.policy.ppo_steps import (
        experience,
        export_policy,
        open_run,
        optimise,
        prepare_training,
        sample,
        score,
        step_record,
    )
    from rlaif.training import finish_trackers, progress_bar

    r = open_run(config, reward_sources)
    run = config.run
    try:
        t = prepare_training(r, rollout_engine)
        timings = {"rollout": 0.0, "reward": 0.0, "logprobs": 0.0, "optimise": 0.0}
        tokens = {"rollout": 0, "reward": 0, "logprobs": 0, "optimise": 0}
        last: dict[str, Any] = t.metrics.history[-1] if t.metrics.history else {}
        bar = progress_bar(config.steps, desc="ppo", initial=t.state.step, enabled=progress and r.main)
        try:
            while t.state.step < config.steps:
                step = t.state.step
                t0 = time.perf_counter()
                rollout = sample(r, t, step)
                t1 = time.perf_counter()
                scored = score(r, t, rollout, step)
                t2 = time.perf_counter()
                exp = experience(r, t, rollout, scored)
                t3 = time.perf_counter()
                opt = optimise(r, t, exp, step)
                t4 = time.perf_counter()
                timings_step = {
                    "rollout": t1 - t0,
                    "reward": t2 - t1,
                    "logprobs": t3 - t2,
                    "optimise": t4 - t3,
                }
                record, tokens_step = step_record(r, t, exp, scored, opt, timings_step)
                for k in timings:
                    timings[k] += timings_step[k]
                    tokens[k] += tokens_step[k]
                t.state.step += 1
                t.state.extra["kl_coef"] = t.kl_ctl.coef
                last = t.metrics.log(t.state.step, record)
                if t.state.step % run.save_every == 0 or t.state.step == config.steps:
                    t.ckpt.save(
                        model=t.model,
                        optimizer=t.optimizer,
                        scheduler=t.scheduler,
                        state=t.state,
                        accelerator=r.accelerator,
                    )
                bar.update(1)
                bar.set_postfix(reward=f"{record['reward_mean']:.3f}", kl=f"{record['kl']:.3f}")
        finally:
            bar.close()
        if run.trackers:
            finish_trackers(r.accelerator)
    finally:
        r.reward.close()
    model_dir = export_policy(r, t, last)
    summary = {
        "prompts": len(r.prompts),
        "value_init": config.value_source,
        "seconds": dict(timings),
        "tokens_per_second": {k: (tokens[k] / timings[k] if timings[k] > 0 else math.nan) for k in timings},
        "kl_coef": t.kl_ctl.coef,
    }
    return TrainResult(
        output_dir=r.out_dir, model_dir=model_dir, steps=t.state.step, final=dict(last), summary=summary
    )


__all__ = ["PPOConfig", "train_ppo"]  # PPOConfig: re-exported from rlaif.policy.ppo_config

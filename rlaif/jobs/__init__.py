"""Stage jobs: each stage is one ``run_<stage>(job) -> result`` function over one strict job model.

A job holds the stage's paths, its model specs (:class:`rlaif.backends.spec.ModelSpec`) and its domain config,
nested unchanged. ``rlaif <stage>`` builds the job from its flags (or ``--config``/``--set``), a pipeline's round
builds it from the pipeline section, Python builds it directly; all three then call the same function, so the
wiring (reading inputs, opening engines, writing outputs and the run record) exists once.

This package sits above every domain package (it opens Ray pools from :mod:`rlaif.scale` and calls the feedback,
reward, policy and evaluation code) and below :mod:`rlaif.loop` and :mod:`rlaif.cli`, which only build jobs.
"""

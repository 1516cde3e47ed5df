import numpy as np

from wmgym.calibrate.paired import paired_rollout
from wmgym.dream import DreamEnv
from wmgym.truth import TruthEnv


def test_paired_rollout_starts_both_from_the_same_frames(dream_checkpoint):
    truth = TruthEnv("reacher")
    dream = DreamEnv(dream_checkpoint, render_mode="rgb_array")
    roll = paired_rollout(truth, dream, lambda s: np.array([0.3, -0.2], np.float32), seed=3, horizon=6)
    assert roll.truth_pixels.shape == roll.dream_pixels.shape == (7, 64, 64, 3)
    assert roll.truth_state.shape == roll.dream_state.shape == (7, 10)
    # the truth side really is MuJoCo from that seed: replaying the same actions reproduces it
    again = TruthEnv("reacher")
    obs, _ = again.reset(seed=3)
    for _ in range(4 + 6):
        obs, *_ = again.step(np.array([0.3, -0.2]))
    np.testing.assert_array_equal(obs["pixels"], roll.truth_pixels[-1])


def test_the_policy_sees_the_truth_observation_and_the_dream_replays_its_actions(dream_checkpoint):
    seen = []

    def policy(obs):
        seen.append(obs)
        return np.array([np.sin(len(seen)), 0.5], np.float32)

    dream = DreamEnv(dream_checkpoint, render_mode="rgb_array")
    roll = paired_rollout(TruthEnv("reacher"), dream, policy, seed=2, context=3, horizon=5)
    assert len(seen) == 8 and set(seen[0]) == {"pixels", "state"}  # the env's observation, as returned
    # by hand: the same actions in MuJoCo, the dream started from its first 3 steps, then replayed
    actions = np.array([[np.sin(t), 0.5] for t in range(1, 9)], np.float32)
    truth = TruthEnv("reacher")
    obs, _ = truth.reset(seed=2)
    pixels, states = [obs["pixels"]], [obs["state"]]
    for a in actions[:3]:
        obs, *_ = truth.step(a)
        pixels.append(obs["pixels"]), states.append(obs["state"])
    context = {"pixels": np.stack(pixels), "actions": actions[:3], "state": np.stack(states)}
    obs, _ = dream.reset(seed=2, options={"context": context})
    np.testing.assert_array_equal(roll.dream_state, np.stack([obs] + [dream.step(a)[0] for a in actions[3:]]))
    np.testing.assert_array_equal(roll.truth_state[0], states[-1])
    assert roll.truth_reward.shape == roll.dream_reward.shape == roll.uncertainty.shape == (6,)

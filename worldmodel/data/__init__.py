from .clips import LatentClips, held_out_episodes, split_episodes, window_index
from .episodes import POLICIES, BranchConfig, Episode, load_branches, load_episode, load_episodes, read_meta, record
from .video import read_video, write_lossless, write_mp4

__all__ = ["LatentClips", "held_out_episodes", "split_episodes", "window_index", "POLICIES", "BranchConfig", "Episode", "load_branches", "load_episode",
           "load_episodes", "read_meta", "record", "read_video", "write_lossless", "write_mp4"]

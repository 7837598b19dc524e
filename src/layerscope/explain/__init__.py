"""What a channel wants and why it matters: feature visualization, channel importance, attention maps, channel labels.

>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
>>> tuple(importance(model, torch.rand(2, 3, 8, 8), layers="0")["0"].shape)
(2, 4)
"""

from .attention import AttentionMaps, attention_maps
from .cards import Card, card
from .attribution import Importance, importance
from .labels import ChannelLabel, ChannelLabels, LabelOptions, channel_labels
from .objectives import OBJECTIVES
from .probeset import ProbeSet, probe_set
from .options import CardOptions, VisualizeOptions
from .targets import Box, Embedding, Mask, Target
from .visualization import Visualization, visualize

__all__ = ["visualize", "Visualization", "VisualizeOptions", "importance", "Importance", "card", "Card",
           "CardOptions", "OBJECTIVES", "Target", "Box", "Mask", "Embedding", "attention_maps", "AttentionMaps",
           "channel_labels", "ChannelLabels", "ChannelLabel", "LabelOptions", "probe_set", "ProbeSet"]

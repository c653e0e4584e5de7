"""Classical (non-learned) comparators: multiphase Chan-Vese level sets (Vese & Chan 2002), and the
Hungarian matching of unsupervised clusters to classes used to score them."""

from cmrseg.baselines.chan_vese import (ChanVeseResult, chan_vese_multiphase, checkerboard_init, match_clusters,
                                       otsu_init)

__all__ = ["ChanVeseResult", "chan_vese_multiphase", "checkerboard_init", "match_clusters", "otsu_init"]

"""Registration-based label propagation across the cardiac cycle.

``registrators``: one interface (``register(moving, fixed) -> displacement``) for identity, SimpleITK demons
and a trained VoxelMorph network, plus one-hot label warping; ``pairs``: ED/ES training pairs;
``propagate``: warp a labelled frame's mask to the other phase or to every frame of a cine and write it on
the target frame's own grid.
"""

from cmrseg.registration.registrators import (DemonsRegistrator, IdentityRegistrator, LearnedRegistrator,
                                              Registrator, create_registrator, warp_labels)

__all__ = ["DemonsRegistrator", "IdentityRegistrator", "LearnedRegistrator", "Registrator", "create_registrator",
           "warp_labels"]

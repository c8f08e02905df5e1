"""Every op family the oracle checks; each family_*.py registers its ops."""
import family_elementwise  # noqa: F401
import family_indexops  # noqa: F401
import family_linalg_index  # noqa: F401
import family_loss  # noqa: F401
import family_math  # noqa: F401
import family_optim_groups  # noqa: F401
import family_norm  # noqa: F401
import family_activation  # noqa: F401
import family_promotion  # noqa: F401
import family_bool  # noqa: F401
import family_conv  # noqa: F401
import family_reduce  # noqa: F401
import family_reduce_stats  # noqa: F401
import family_shape  # noqa: F401
import family_shapeops  # noqa: F401
import family_pool  # noqa: F401
import family_seq  # noqa: F401
import family_rnn  # noqa: F401
import family_mha  # noqa: F401
import family_functional  # noqa: F401
import family_gpt  # noqa: F401
import family_jvp  # noqa: F401 (last: it reuses the specs above)
from oracle_gen import REGISTRY  # noqa: F401

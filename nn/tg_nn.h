/* nn layer public API */
#ifndef TG_NN_H
#define TG_NN_H

#include "tg_ops.h"

#endif

/* optim layer public API */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include "tg_ops.h"

#endif

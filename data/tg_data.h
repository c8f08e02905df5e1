/* data layer public API */
#ifndef TG_DATA_H
#define TG_DATA_H

#include "tg_ops.h"

#endif

#ifndef CLIBFDT_SHIM_H
#define CLIBFDT_SHIM_H

// libfdt from Debian's libfdt-dev (dtc). Only the header is pulled in here; the module map
// links libfdt.so ("fdt"), because Debian 12 installs no pkg-config file for it.
#include <libfdt.h>

#endif

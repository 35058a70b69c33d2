/* ahttp: everything. */
#ifndef AHTTP_AHTTP_H
#define AHTTP_AHTTP_H

#include <ahttp/buf.h>
#include <ahttp/client.h>
#include <ahttp/common.h>
#include <ahttp/dns.h>
#include <ahttp/error.h>
#include <ahttp/gather.h>
#include <ahttp/loop.h>
#include <ahttp/server.h>
#include <ahttp/stream.h>
#include <ahttp/sync.h>
#include <ahttp/task.h>
#include <ahttp/tcp.h>
#include <ahttp/thread.h>
#include <ahttp/time.h>
#include <ahttp/tls.h>
#include <ahttp/url.h>

#endif

#ifndef BRANCHSYNC_CLINUX_H
#define BRANCHSYNC_CLINUX_H
// Linux headers Glibc's Swift module does not export (as swift-nio's CNIOLinux does).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#endif

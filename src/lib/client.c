#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "io.h"

struct client_conn {
	int fd;
	uint32_t next_id;
	struct proto_decoder dec;
	struct proto_welcome w;
	bool have_w;
};

static int send_buf(struct client_conn *c, struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t w = send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(ERR_IO, "daemon socket: send");
		}
		off += (size_t)w;
	}
	buf_reset(b);
	return 0;
}

/* One frame from the daemon; the end of the connection is an error. */
static int recv_frame(struct client_conn *c, struct proto_frame *f)
{
	int r = proto_recv(c->fd, &c->dec, f);

	if (r == 0)
		return err_set(ERR_TRUNCATED, "the daemon closed the connection");
	return r < 0 ? r : 0;
}

int client_connect(struct client_conn **out, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct client_conn *c;
	struct buf b = BUF_INIT(1 << 16);
	struct proto_hello h = {.version = PROTO_VERSION, .name = "yonder " YONDER_VERSION};
	struct proto_frame f;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(ERR_INVALID, "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	if (!(c = calloc(1, sizeof(*c))))
		return err_set(ERR_NOMEM, "out of memory");
	c->next_id = 1;
	proto_decoder_init(&c->dec, "daemon", 0);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		r = err_sys(ERR_IO, "socket");
		goto fail;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		r = err_sys(e == ENOENT || e == ECONNREFUSED ? ERR_NOTFOUND : ERR_IO,
			    "cannot connect to the daemon at '%s'", path);
		goto fail;
	}
	if ((r = proto_hello_put(&b, &h)) != 0 || (r = send_buf(c, &b)) != 0 ||
	    (r = recv_frame(c, &f)) != 0)
		goto fail;
	if (f.op == PROTO_ERROR) {
		int code;
		char *msg;

		if ((r = proto_error_get(&f, &code, &msg)) == 0) {
			r = err_set(code, "daemon: %s", msg);
			free(msg);
		}
		goto fail;
	}
	if ((r = proto_welcome_get(&c->w, &f)) != 0)
		goto fail;
	c->have_w = true;
	buf_release(&b);
	*out = c;
	return 0;
fail:
	buf_release(&b);
	client_free(c);
	return r;
}

void client_free(struct client_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->have_w)
		proto_welcome_release(&c->w);
	proto_decoder_release(&c->dec);
	free(c);
}

const struct proto_welcome *client_welcome(const struct client_conn *c)
{
	return &c->w;
}

int client_build(struct client_conn *c, const struct proto_build *q, int cancel_fd,
		 client_event_fn fn, void *ctx, struct proto_build_entry **v, size_t *n,
		 bool *cancelled)
{
	struct buf b = BUF_INIT(PROTO_FRAME_MAX + PROTO_HDR_LEN);
	uint32_t id = c->next_id++;
	int r;

	*v = NULL;
	*n = 0;
	*cancelled = false;
	if ((r = proto_build_put(&b, id, q)) != 0 || (r = send_buf(c, &b)) != 0)
		goto out;
	for (;;) {
		struct proto_frame f;

		if (cancel_fd >= 0 && !*cancelled && proto_decoder_want(&c->dec) == PROTO_HDR_LEN) {
			struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
					      {.fd = cancel_fd, .events = POLLIN}};

			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				r = err_sys(ERR_IO, "poll");
				goto out;
			}
			if (p[1].revents) {
				*cancelled = true;
				if ((r = proto_put_frame(&b, PROTO_CANCEL, 0, id, NULL, 0)) != 0 ||
				    (r = send_buf(c, &b)) != 0)
					goto out;
				continue;
			}
		}
		if ((r = recv_frame(c, &f)) != 0)
			goto out;
		if (f.id != id && f.id != 0)
			continue;
		if (f.op == PROTO_OK) {
			r = proto_build_ok_get(&f, v, n);
			goto out;
		}
		if (f.op == PROTO_ERROR) {
			int code;
			char *msg;

			if ((r = proto_error_get(&f, &code, &msg)) == 0) {
				r = err_set(code, "%s", msg);
				free(msg);
			}
			goto out;
		}
		if (f.op >= PROTO_EV_BUILD_STARTED && f.op <= PROTO_EV_PROGRESS) {
			struct proto_event ev;

			if ((r = proto_event_get(&ev, &f)) != 0) {
				proto_event_release(&ev);
				goto out;
			}
			if (fn)
				fn(ctx, &ev);
			proto_event_release(&ev);
		}
	}
out:
	buf_release(&b);
	return r;
}

int client_status(struct client_conn *c, bool json, char **text)
{
	struct buf b = BUF_INIT(1 << 16);
	uint32_t id = c->next_id++;
	size_t start;
	int r;

	*text = NULL;
	if ((r = proto_frame_begin(&b, PROTO_STATUS, 0, id, &start)) != 0 ||
	    (r = proto_put_u64(&b, json ? 1 : 0)) != 0 || (r = proto_frame_end(&b, start)) != 0 ||
	    (r = send_buf(c, &b)) != 0) {
		buf_release(&b);
		return r;
	}
	buf_release(&b);
	for (;;) {
		struct proto_frame f;
		struct proto_in in;
		const void *p;
		size_t n;
		int code;
		char *msg;

		if ((r = recv_frame(c, &f)) != 0)
			return r;
		if (f.id != id && f.id != 0)
			continue;
		if (f.op == PROTO_ERROR) {
			if ((r = proto_error_get(&f, &code, &msg)) == 0) {
				r = err_set(code, "%s", msg);
				free(msg);
			}
			return r;
		}
		if (f.op != PROTO_OK)
			continue;
		proto_in_init(&in, &f);
		if ((r = proto_get_bytes(&in, &p, &n, PROTO_FRAME_MAX)) != 0 ||
		    (r = proto_get_end(&in)) != 0)
			return r;
		if (!(*text = malloc(n + 1)))
			return err_set(ERR_NOMEM, "out of memory");
		memcpy(*text, p, n);
		(*text)[n] = 0;
		return 0;
	}
}

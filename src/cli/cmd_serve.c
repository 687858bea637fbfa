/* rmedia serve: the remotemedia.v1 gRPC server (src/transports/grpc). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "remotemedia/python_nodes.h"
#include "remotemedia/remote_nodes.h"
#include "remotemedia/nodes.h"
#include "../transports/grpc/rm_grpc.h"
#ifdef RM_CLI_WEBRTC
#include "../transports/webrtc/rm_webrtc.h"
#endif

static const char serve_usage[] =
    "Usage: rmedia serve [OPTIONS]\n"
#ifdef RM_CLI_WEBRTC
    "       rmedia serve --webrtc-listen HOST:PORT [OPTIONS] MANIFEST\n"
#endif
    "\n"
    "Serve pipelines over gRPC: remotemedia.v1 PipelineExecutionService\n"
    "(ExecutePipeline, GetVersion), StreamingPipelineService (StreamPipeline)\n"
    "and grpc.health.v1.Health (Check, Watch; no token needed).  Clients send\n"
    "manifests with each request; see docs/grpc.md.\n"
    "\n"
    "Options:\n"
    "  --listen HOST:PORT          address to serve on (default 127.0.0.1:50051,\n"
    "                              env REMOTEMEDIA_LISTEN); port 0 picks a free port\n"
    "  --port-file FILE            write the bound port to FILE once listening\n"
    "  --auth-token-file FILE      accepted bearer tokens, one per line; clients send\n"
    "                              'authorization: Bearer TOKEN' (env\n"
    "                              REMOTEMEDIA_AUTH_TOKENS: comma-separated).  Without\n"
    "                              tokens every client is accepted\n"
    "  --tls-cert FILE             PEM certificate chain: serve TLS\n"
    "  --tls-key FILE              PEM private key of --tls-cert\n"
    "  --tls-client-ca FILE        PEM CA: require client certificates it signed (mTLS)\n"
    "  --max-message-bytes N       largest request or reply message (default 10485760)\n"
    "  --max-sessions N            streams open + unary calls running at once; more\n"
    "                              are refused (default 0 = unlimited)\n"
    "  --session-idle-timeout S    close a stream that sent nothing for S seconds\n"
    "                              (default 0 = never)\n"
    "  --metrics-every N           StreamMetrics every N chunks (default 10, 0 = never)\n"
    "  --threads N                 threads running stream sessions (default: one per CPU)\n"
    "  --allow-python              allow node types that run Python code\n"
    "  --allow-file-params         accept node parameters that name files on this\n"
    "                              machine (SpeechToText model_dir, grammar, ...)\n"
    "  --allow-remote              allow RemotePipeline nodes (the server connects to the\n"
    "                              endpoints the client's manifest names)\n"
    "  --plugin-dir DIR            load node plugins from DIR (repeatable); RMEDIA_PLUGIN_PATH\n"
    "                              is ignored by serve\n"
    "  --metrics-listen HOST:PORT  Prometheus text at http://HOST:PORT/metrics\n"
    "  --metrics-port-file FILE    write the metrics port to FILE\n"
    "  --log-format text|json      one line per request (default text)\n"
    "  --drain-timeout S           on SIGTERM/SIGINT: stop accepting, end streams with\n"
    "                              StreamClosed \"server shutting down\", let unary calls\n"
    "                              finish for up to S seconds (default 10), exit 0\n"
#ifdef RM_CLI_WEBRTC
    "\n"
    "WebRTC (docs/webrtc.md): browsers and WHIP clients talk to MANIFEST, one\n"
    "session per peer: POST an SDP offer to http(s)://HOST:PORT/whip (201 + answer +\n"
    "Location), DELETE the Location to end.  Peer Opus audio goes to the first\n"
    "source node taking audio, the first sink's audio comes back as Opus paced in\n"
    "real time, json/text outputs go out on the data channel.  The token, TLS,\n"
    "--max-sessions, --session-idle-timeout and --threads options apply to it too.\n"
    "With --webrtc-listen, gRPC is served only when --listen is given.\n"
    "  --webrtc-listen HOST:PORT   serve WHIP signalling; port 0 picks a free port\n"
    "  --webrtc-port-file FILE     write the bound WHIP port to FILE once listening\n"
    "  --webrtc-ice-address ADDR   local ICE candidate address (repeatable; default:\n"
    "                              every interface).  Needed in a network namespace\n"
    "                              with only lo: --webrtc-ice-address 127.0.0.1\n"
    "  --webrtc-max-peers N        connected peers at once; more get HTTP 503\n"
    "                              (default 0 = unlimited)\n"
    "  --webrtc-peer-timeout S     end a peer whose ICE does not connect, or whose\n"
    "                              audio stops, for S seconds (default 10)\n"
    "  --webrtc-max-connections N  HTTP connections to the WHIP port at once (a thread\n"
    "                              each); more wait until one closes (default 64)\n"
    "  --webrtc-max-connections-per-ip N\n"
    "                              the same per client address; more are closed\n"
    "                              unanswered (default 0 = only the total limit)\n"
    "  --webrtc-max-reply-seconds S\n"
    "                              reply audio queued for one peer (it is paced in\n"
    "                              real time); a pipeline making more is cut, the\n"
    "                              peer told (reply_audio_dropped) (default 60)\n"
#endif
    "  -h, --help                  show this help\n"
    "\n"
    "Unary replies larger than 4 MiB (gRPC clients' default receive limit) fail\n"
    "with RESOURCE_EXHAUSTED.  Server reflection is not offered (the gRPC core C\n"
    "API has none).\n";

static int parse_num(const char *flag, const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < 0) {
        cli_error("%s: '%s' is not a number >= 0", flag, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* Splits tokens on commas/newlines into `list` (pointers into `buf`). */
static size_t split_tokens(char *buf, const char **list, size_t cap, size_t n)
{
    for (char *p = strtok(buf, ",\r\n"); p && n < cap; p = strtok(NULL, ",\r\n")) {
        while (*p == ' ' || *p == '\t') p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
        if (*p && *p != '#') list[n++] = p;
    }
    return n;
}

int cmd_serve(const cli_globals *g, int argc, char **argv)
{
    enum {
        O_LISTEN = 256, O_PORT_FILE, O_TOKENS, O_CERT, O_KEY, O_CA, O_MAXMSG, O_MAXSESS, O_IDLE, O_EVERY, O_THREADS,
        O_PY, O_REMOTE, O_PLUGDIR, O_MLISTEN, O_MPORT, O_LOG, O_DRAIN, O_FILEPARAMS, O_RTC_LISTEN, O_RTC_PORT,
        O_RTC_ICE, O_RTC_PEERS, O_RTC_TIMEOUT, O_RTC_CONNS, O_RTC_CONNS_IP, O_RTC_REPLY
    };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"port-file", required_argument, NULL, O_PORT_FILE},
        {"auth-token-file", required_argument, NULL, O_TOKENS},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"tls-client-ca", required_argument, NULL, O_CA},
        {"max-message-bytes", required_argument, NULL, O_MAXMSG},
        {"max-sessions", required_argument, NULL, O_MAXSESS},
        {"session-idle-timeout", required_argument, NULL, O_IDLE},
        {"metrics-every", required_argument, NULL, O_EVERY},
        {"threads", required_argument, NULL, O_THREADS},
        {"allow-python", no_argument, NULL, O_PY},
        {"allow-file-params", no_argument, NULL, O_FILEPARAMS},
        {"allow-remote", no_argument, NULL, O_REMOTE},
        {"plugin-dir", required_argument, NULL, O_PLUGDIR},
        {"metrics-listen", required_argument, NULL, O_MLISTEN},
        {"metrics-port-file", required_argument, NULL, O_MPORT},
        {"log-format", required_argument, NULL, O_LOG},
        {"drain-timeout", required_argument, NULL, O_DRAIN},
#ifdef RM_CLI_WEBRTC
        {"webrtc-listen", required_argument, NULL, O_RTC_LISTEN},
        {"webrtc-port-file", required_argument, NULL, O_RTC_PORT},
        {"webrtc-ice-address", required_argument, NULL, O_RTC_ICE},
        {"webrtc-max-peers", required_argument, NULL, O_RTC_PEERS},
        {"webrtc-peer-timeout", required_argument, NULL, O_RTC_TIMEOUT},
        {"webrtc-max-connections", required_argument, NULL, O_RTC_CONNS},
        {"webrtc-max-connections-per-ip", required_argument, NULL, O_RTC_CONNS_IP},
        {"webrtc-max-reply-seconds", required_argument, NULL, O_RTC_REPLY},
#endif
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    rmg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = getenv("REMOTEMEDIA_LISTEN") && *getenv("REMOTEMEDIA_LISTEN") ? getenv("REMOTEMEDIA_LISTEN")
                                                                                : "127.0.0.1:50051";
    cfg.max_message_bytes = 10u * 1024u * 1024u;
    cfg.metrics_every = 10;
    cfg.drain_timeout_s = 10;
    const char *token_file = NULL, *plugin_dirs[64];
    int n_dirs = 0;
    int listen_given = getenv("REMOTEMEDIA_LISTEN") && *getenv("REMOTEMEDIA_LISTEN");
#ifdef RM_CLI_WEBRTC
    rtc_config rtc;
    memset(&rtc, 0, sizeof rtc);
    rtc.peer_timeout_s = 10;
    rtc.max_connections = RTC_DEFAULT_MAX_CONNECTIONS;
    rtc.max_reply_s = RTC_DEFAULT_MAX_REPLY_S;
    int rtc_opts_given = 0;
#endif
    double d;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: cfg.listen = optarg, listen_given = 1; break;
        case O_PORT_FILE: cfg.port_file = optarg; break;
        case O_TOKENS: token_file = optarg; break;
        case O_CERT: cfg.tls_cert = optarg; break;
        case O_KEY: cfg.tls_key = optarg; break;
        case O_CA: cfg.tls_client_ca = optarg; break;
        case O_MAXMSG:
            if (parse_num("--max-message-bytes", optarg, &d) || d < 1024 || d > 2147483647.0) {
                cli_error("--max-message-bytes: between 1024 and 2147483647");
                return EXIT_USAGE;
            }
            cfg.max_message_bytes = (size_t)d;
            break;
        case O_MAXSESS:
            if (parse_num("--max-sessions", optarg, &d)) return EXIT_USAGE;
            cfg.max_sessions = (size_t)d;
            break;
        case O_IDLE:
            if (parse_num("--session-idle-timeout", optarg, &d)) return EXIT_USAGE;
            cfg.idle_timeout_s = d;
            break;
        case O_EVERY:
            if (parse_num("--metrics-every", optarg, &d)) return EXIT_USAGE;
            cfg.metrics_every = (unsigned)d;
            break;
        case O_THREADS:
            if (parse_num("--threads", optarg, &d) || d > 1024) return EXIT_USAGE;
            cfg.pool_threads = (unsigned)d;
            break;
        case O_PY: cfg.allow_python = 1; break;
        case O_FILEPARAMS: cfg.allow_file_params = 1; break;
        case O_REMOTE: cfg.allow_remote = 1; break;
        case O_PLUGDIR:
            if (n_dirs == 64) return cli_error("too many --plugin-dir options"), EXIT_USAGE;
            plugin_dirs[n_dirs++] = optarg;
            break;
        case O_MLISTEN: cfg.metrics_listen = optarg; break;
        case O_MPORT: cfg.metrics_port_file = optarg; break;
        case O_LOG:
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                cli_error("--log-format: text or json, not '%s'", optarg);
                return EXIT_USAGE;
            }
            cfg.log_json = !strcmp(optarg, "json");
            break;
        case O_DRAIN:
            if (parse_num("--drain-timeout", optarg, &d)) return EXIT_USAGE;
            cfg.drain_timeout_s = d;
            break;
#ifdef RM_CLI_WEBRTC
        case O_RTC_LISTEN: rtc.listen = optarg; break;
        case O_RTC_PORT: rtc.port_file = optarg; break;
        case O_RTC_ICE:
            if (rtc.n_ice_addrs == RTC_MAX_ICE_ADDRS)
                return cli_error("too many --webrtc-ice-address options (at most %d)", RTC_MAX_ICE_ADDRS), EXIT_USAGE;
            rtc.ice_addrs[rtc.n_ice_addrs++] = optarg;
            break;
        case O_RTC_PEERS:
            if (parse_num("--webrtc-max-peers", optarg, &d)) return EXIT_USAGE;
            rtc.max_peers = (size_t)d;
            break;
        case O_RTC_TIMEOUT:
            if (parse_num("--webrtc-peer-timeout", optarg, &d)) return EXIT_USAGE;
            rtc.peer_timeout_s = d;
            break;
        case O_RTC_CONNS:
        case O_RTC_CONNS_IP:
            if (parse_num(c == O_RTC_CONNS ? "--webrtc-max-connections" : "--webrtc-max-connections-per-ip", optarg,
                          &d))
                return EXIT_USAGE;
            if ((c == O_RTC_CONNS && d < 1) || d > 10000)
                return cli_error("%s: between %d and 10000", c == O_RTC_CONNS ? "--webrtc-max-connections"
                                                                              : "--webrtc-max-connections-per-ip",
                                 c == O_RTC_CONNS),
                       EXIT_USAGE;
            if (c == O_RTC_CONNS) rtc.max_connections = (unsigned)d;
            else rtc.max_connections_per_ip = (unsigned)d;
            rtc_opts_given = 1;
            break;
        case O_RTC_REPLY:
            if (parse_num("--webrtc-max-reply-seconds", optarg, &d)) return EXIT_USAGE;
            if (d < 0.1 || d > 3600)
                return cli_error("--webrtc-max-reply-seconds: between 0.1 and 3600 (got %s)", optarg), EXIT_USAGE;
            rtc.max_reply_s = d;
            rtc_opts_given = 1;
            break;
#endif
        case 'h': fputs(serve_usage, stdout); return EXIT_OK;
        default: fputs("Try 'rmedia serve --help'.\n", stderr); return EXIT_USAGE;
        }
    }
    const char *manifest = NULL;
#ifdef RM_CLI_WEBRTC
    if (rtc.listen) {
        if (optind >= argc) {
            cli_error("--webrtc-listen needs a MANIFEST (the pipeline each peer runs)");
            return EXIT_USAGE;
        }
        manifest = argv[optind++];
    } else if (rtc.port_file || rtc.n_ice_addrs || rtc.max_peers || rtc_opts_given) {
        cli_error("the --webrtc-* options need --webrtc-listen HOST:PORT");
        return EXIT_USAGE;
    }
#endif
    if (optind < argc) {
        cli_error("serve takes no arguments ('%s')%s; see 'rmedia serve --help'", argv[optind],
                  manifest ? " besides the MANIFEST" : "");
        return EXIT_USAGE;
    }
    if (!strchr(cfg.listen, ':')) {
        cli_error("--listen '%s': expected HOST:PORT", cfg.listen);
        return EXIT_USAGE;
    }
    if (cfg.metrics_port_file && !cfg.metrics_listen) {
        cli_error("--metrics-port-file needs --metrics-listen");
        return EXIT_USAGE;
    }

    /* tokens: the file, then the environment */
    const char *tokens[256];
    size_t n_tokens = 0;
    char *file_buf = NULL, *env_buf = NULL;
    if (token_file) {
        FILE *f = fopen(token_file, "r");
        if (!f) {
            cli_error("--auth-token-file %s: %s", token_file, strerror(errno));
            return EXIT_IO;
        }
        file_buf = cli_read_all(f, &(size_t){0});
        fclose(f);
        if (!file_buf) return cli_error("--auth-token-file %s: cannot read", token_file), EXIT_IO;
        n_tokens = split_tokens(file_buf, tokens, 256, n_tokens);
        if (n_tokens == 0) {
            cli_error("--auth-token-file %s: no token in it", token_file);
            free(file_buf);
            return EXIT_USAGE;
        }
    }
    const char *env = getenv("REMOTEMEDIA_AUTH_TOKENS");
    if (env && *env) {
        env_buf = strdup(env);
        if (env_buf) n_tokens = split_tokens(env_buf, tokens, 256, n_tokens);
    }
    cfg.tokens = tokens;
    cfg.n_tokens = n_tokens;

    /* the runtime: built-in families and only the plugins the operator names */
    rm_runtime_opts ro;
    rm_runtime_opts_init(&ro);
    ro.log_level = g->log_level;
    ro.flags = RM_RUNTIME_NO_ENV_PLUGINS;
    rm_runtime *rt = NULL;
    rm_error err;
    rm_error_clear(&err);
    int rc = rm_runtime_new_with_builtins(&ro, &rt, &err);
#ifdef RM_WITH_PYTHON_NODES
    /* registered always, so that a refused manifest is told about
     * --allow-python; the server runs none unless the operator allows it */
    if (rc == 0) rc = rm_register_python_nodes(rt, NULL, &err);
#endif
    /* registered always too; refused unless --allow-remote */
    if (rc == 0) rc = rm_register_remote_nodes(rt, &err);
    for (int i = 0; rc == 0 && i < g->n_plugin_dirs; i++) rc = rm_runtime_load_plugin_dirs(rt, g->plugin_dirs[i], &err);
    for (int i = 0; rc == 0 && i < n_dirs; i++) rc = rm_runtime_load_plugin_dirs(rt, plugin_dirs[i], &err);
    for (int i = 0; rc == 0 && i < g->n_plugins; i++) rc = rm_runtime_load_plugin(rt, g->plugins[i], &err);
    if (rc != 0) {
        cli_error("%s", err.message[0] ? err.message : rm_strerror(rc));
        rm_runtime_free(rt);
        free(file_buf);
        free(env_buf);
        return cli_exit_for(rc);
    }
    int code;
#ifdef RM_CLI_WEBRTC
    if (manifest) {
        rtc.manifest_path = manifest;
        rtc.tokens = tokens;
        rtc.n_tokens = n_tokens;
        rtc.tls_cert = cfg.tls_cert;
        rtc.tls_key = cfg.tls_key;
        rtc.max_sessions = cfg.max_sessions;
        rtc.idle_timeout_s = cfg.idle_timeout_s;
        rtc.pool_threads = cfg.pool_threads;
        rtc.allow_python = cfg.allow_python;
        if (!listen_given) {
            code = rtc_serve(rt, &rtc);
        } else {
            /* both: WebRTC runs beside the gRPC server until it drains */
            rtc_server *ws = NULL;
            code = rtc_start(rt, &rtc, &ws);
            if (code == 0) {
                code = rmg_serve(rt, &cfg);
                rtc_stop(ws);
            }
        }
    } else
#endif
        code = rmg_serve(rt, &cfg);
    (void)manifest;
    rm_runtime_free(rt);
    free(file_buf);
    free(env_buf);
    return code;
}

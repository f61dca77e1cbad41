// HTTP behind an interface: the client only needs "send this request, give me
// the status, headers and body". The default uses System.Net.Http; a game can
// plug in UnityWebRequest or its own stack.
using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace BrightMatter
{
    public sealed class HttpResult
    {
        public int Status;
        public string Body;
        public string ETag;
        public string RetryAfter;
    }

    public interface IHttpTransport
    {
        /// <summary>Sends one request; throws when there is no answer (network down, timeout).</summary>
        Task<HttpResult> SendAsync(string method, string url, IDictionary<string, string> headers, string body,
                                   CancellationToken ct);
    }

    public sealed class HttpClientTransport : IHttpTransport, IDisposable
    {
        readonly HttpClient http;

        public HttpClientTransport(TimeSpan timeout)
        {
            http = new HttpClient { Timeout = timeout };
        }

        public async Task<HttpResult> SendAsync(string method, string url, IDictionary<string, string> headers,
                                                string body, CancellationToken ct)
        {
            using (var req = new HttpRequestMessage(new HttpMethod(method), url))
            {
                if (body != null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
                foreach (var h in headers) req.Headers.TryAddWithoutValidation(h.Key, h.Value);
                using (var resp = await http.SendAsync(req, ct).ConfigureAwait(false))
                {
                    var r = new HttpResult { Status = (int)resp.StatusCode };
                    r.Body = resp.Content != null ? await resp.Content.ReadAsStringAsync().ConfigureAwait(false) : "";
                    r.ETag = resp.Headers.ETag != null ? resp.Headers.ETag.ToString() : null;
                    if (resp.Headers.RetryAfter != null && resp.Headers.RetryAfter.Delta.HasValue)
                        r.RetryAfter = ((int)resp.Headers.RetryAfter.Delta.Value.TotalSeconds).ToString();
                    return r;
                }
            }
        }

        public void Dispose()
        {
            http.Dispose();
        }
    }
}

// The persistent event queue: one directory, events.log (one event per line,
// append-only) and events.sent (the byte offset of the first event not yet
// accepted, replaced atomically). Once everything is sent the log starts
// over. A torn last line (a crash in the middle of a write) is cut when the
// queue is opened. Past MaxEvents the oldest are dropped and counted.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace BrightMatter
{
    public sealed class EventQueue : IDisposable
    {
        readonly object gate = new object();
        readonly string dir, logPath, sentPath;
        readonly bool fsync;
        readonly int maxEvents;
        FileStream log;
        long sent;
        int pending;

        /// <summary>Events dropped because the queue was full (since it was opened).</summary>
        public long Dropped { get; private set; }

        public EventQueue(string directory, int maxEvents, bool fsync)
        {
            if (string.IsNullOrEmpty(directory)) throw new ArgumentException("queue directory is required");
            dir = directory;
            this.maxEvents = maxEvents > 0 ? maxEvents : 10000;
            this.fsync = fsync;
            Directory.CreateDirectory(dir);
            logPath = Path.Combine(dir, "events.log");
            sentPath = Path.Combine(dir, "events.sent");
            log = new FileStream(logPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
            long good = log.Length;
            while (good > 0 && ByteAt(good - 1) != '\n') good--;
            if (good != log.Length) log.SetLength(good);
            if (File.Exists(sentPath))
            {
                long s;
                if (long.TryParse(File.ReadAllText(sentPath).Trim(), out s)) sent = s;
            }
            if (sent < 0 || sent > good || (sent > 0 && ByteAt(sent - 1) != '\n')) sent = 0;
            pending = 0;
            foreach (var _ in ReadLines(sent, int.MaxValue)) pending++;
            log.Seek(0, SeekOrigin.End);
        }

        int ByteAt(long off)
        {
            log.Seek(off, SeekOrigin.Begin);
            return log.ReadByte();
        }

        public int Count
        {
            get { lock (gate) return pending; }
        }

        /// <summary>Appends one event (a JSON object without newlines).</summary>
        public void Append(string json)
        {
            var bytes = Encoding.UTF8.GetBytes(json + "\n");
            lock (gate)
            {
                log.Seek(0, SeekOrigin.End);
                log.Write(bytes, 0, bytes.Length);
                log.Flush(fsync);
                pending++;
                if (pending > maxEvents)
                {
                    // Drop the oldest: move the sent mark past them.
                    int over = pending - maxEvents;
                    long end = sent;
                    foreach (var l in ReadLines(sent, over)) end = l.Value;
                    Dropped += over;
                    Ack(end, over);
                }
            }
        }

        IEnumerable<KeyValuePair<string, long>> ReadLines(long from, int max)
        {
            log.Seek(from, SeekOrigin.Begin);
            var buf = new MemoryStream();
            long off = from;
            int n = 0, b;
            while (n < max && (b = log.ReadByte()) >= 0)
            {
                off++;
                if (b == '\n')
                {
                    n++;
                    yield return new KeyValuePair<string, long>(Encoding.UTF8.GetString(buf.ToArray()), off);
                    buf.SetLength(0);
                }
                else buf.WriteByte((byte)b);
            }
        }

        /// <summary>Up to max events from the oldest, with the offset after the last.</summary>
        public List<string> Peek(int max, out long end)
        {
            lock (gate)
            {
                var list = new List<string>();
                end = sent;
                foreach (var l in ReadLines(sent, max))
                {
                    list.Add(l.Key);
                    end = l.Value;
                }
                log.Seek(0, SeekOrigin.End);
                return list;
            }
        }

        /// <summary>Marks the n events before end as sent.</summary>
        public void Remove(long end, int n)
        {
            lock (gate) Ack(end, n);
        }

        void Ack(long end, int n)
        {
            if (end < sent || end > log.Length) return;
            sent = end;
            pending = Math.Max(0, pending - n);
            if (sent == log.Length)
            {
                WriteSent(0);
                log.SetLength(0);
                sent = 0;
                pending = 0;
            }
            else WriteSent(sent);
            log.Seek(0, SeekOrigin.End);
        }

        void WriteSent(long off)
        {
            var tmp = sentPath + ".tmp";
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                var b = Encoding.ASCII.GetBytes(off + "\n");
                f.Write(b, 0, b.Length);
                f.Flush(fsync);
            }
            // A rename: the old offset or the new one, never half of either.
            if (File.Exists(sentPath)) File.Replace(tmp, sentPath, null);
            else File.Move(tmp, sentPath);
        }

        public void Dispose()
        {
            lock (gate)
            {
                log?.Dispose();
                log = null;
            }
        }
    }
}

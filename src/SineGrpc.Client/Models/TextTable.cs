using System.Text;

namespace SineGrpc.Client.Models;

/// <summary>Left-aligned text columns, two spaces apart, for terminal output.</summary>
internal static class TextTable
{
    public static string Format(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        var widths = headers.Select((header, column) => rows.Select(r => r[column].Length).Append(header.Length).Max()).ToArray();
        var table = new StringBuilder();
        AppendRow(table, headers, widths);
        foreach (var row in rows)
        {
            AppendRow(table, row, widths);
        }
        return table.ToString();
    }

    private static void AppendRow(StringBuilder table, IReadOnlyList<string> cells, int[] widths)
    {
        var line = string.Join("  ", cells.Select((cell, column) => cell.PadRight(widths[column])));
        table.AppendLine(line.TrimEnd());
    }
}

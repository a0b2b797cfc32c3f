/**
 * Files: browse a space (mine or a team's), upload with a progress bar, new folder, download, versions, share
 * links, delete (to the trash). Shown when the files service runs.
 */
import { useEffect, useState } from "preact/hooks";
import { can } from "../access";
import { del, get, post } from "../api";
import { bytes, when } from "../format";
import type { PageProps } from "../main";
import type { FileNode } from "../types";
import { Action, Empty, Field, Form, Select, Table, useOutcome } from "../ui";
import { AiDetails, hasAi } from "./files-ai";
import { MediaPreview } from "./files-media";
import { tusUpload } from "./files-upload";

interface Space {
  id: string;
  name: string;
  kind: string;
  usedBytes: number;
  quotaBytes: number | null;
}

interface Version {
  version: number;
  size: number;
  sha256: string;
  contentType: string;
  createdAt: string;
}

const enc = (path: string) => path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
const join = (folder: string, name: string) => (folder ? `${folder}/${name}` : name);

export function FilesPage({ me }: PageProps) {
  const [spaces, setSpaces] = useState<Space[]>([]);
  const [space, setSpace] = useState("me");
  const [folder, setFolder] = useState("");
  const [items, setItems] = useState<FileNode[]>([]);
  const [progress, setProgress] = useState<{ name: string; pct: number } | null>(null);
  const [newFolder, setNewFolder] = useState("");
  const outcome = useOutcome();
  const write = can(me.permissions, "files:write");

  const list = () =>
    outcome.run(async () => {
      const r = await get<{ items: FileNode[] }>(
        `/api/files/spaces/${encodeURIComponent(space)}/list/${enc(folder)}`,
      );
      setItems(r.items);
    });
  useEffect(() => {
    outcome.run(async () => setSpaces((await get<{ spaces: Space[] }>("/api/files/spaces")).spaces));
  }, []);
  useEffect(() => {
    void list();
  }, [space, folder]);

  const onFiles = async (files: FileList | null) => {
    for (const f of Array.from(files ?? [])) {
      setProgress({ name: f.name, pct: 0 });
      const target = { space, path: join(folder, f.name) };
      const ok = await outcome.run(
        () => tusUpload(target, f, (pct) => setProgress({ name: f.name, pct })),
        `${f.name} uploaded.`,
      );
      setProgress(null);
      if (!ok) break;
    }
    await list();
  };

  const crumbs = folder ? folder.split("/") : [];
  const current = spaces.find((s) => s.id === space);
  return (
    <section>
      <h1>Files</h1>
      <div class="toolbar">
        <Select
          label="Space"
          value={space}
          onChange={(v) => {
            setSpace(v);
            setFolder("");
          }}
          options={(spaces.length ? spaces : [{ id: "me", name: "My files" } as Space]).map((s) => ({
            value: s.id,
            label: s.name,
          }))}
        />
        {current && (
          <p class="small">
            {bytes(current.usedBytes)} used{current.quotaBytes ? ` of ${bytes(current.quotaBytes)}` : ""}
          </p>
        )}
      </div>
      <nav aria-label="Folder path" class="crumbs">
        <button type="button" class="link" onClick={() => setFolder("")}>
          {current?.name ?? "Top"}
        </button>
        {crumbs.map((c, i) => (
          <span key={crumbs.slice(0, i + 1).join("/")}>
            {" / "}
            <button type="button" class="link" onClick={() => setFolder(crumbs.slice(0, i + 1).join("/"))}>
              {c}
            </button>
          </span>
        ))}
      </nav>
      {write && (
        <div class="toolbar">
          <div class="field">
            <label for="upload">Upload files</label>
            <input
              id="upload"
              type="file"
              multiple
              onChange={(e) => onFiles((e.target as HTMLInputElement).files)}
            />
          </div>
          <Form
            label="New folder"
            submit="Create folder"
            class="form inline"
            onSubmit={() =>
              outcome.run(
                () =>
                  post(`/api/files/spaces/${encodeURIComponent(space)}/folders`, {
                    path: join(folder, newFolder),
                  }).then(list),
                `Folder ${newFolder} created.`,
              )
            }
          >
            <Field label="Folder name" value={newFolder} onInput={setNewFolder} required name="folder-name" />
          </Form>
        </div>
      )}
      {progress && (
        <div class="progress">
          <label for="upload-progress">
            Uploading {progress.name}: {progress.pct}%
          </label>
          <progress id="upload-progress" max={100} value={progress.pct} />
        </div>
      )}
      <div aria-live="polite">{outcome.view}</div>
      {items.length === 0 ? (
        <Empty>This folder is empty.</Empty>
      ) : (
        <Table columns={["Name", "Size", "Version", "Changed", "Actions"]}>
          {items.map((n) => (
            <FileRow
              key={n.id}
              node={n}
              space={space}
              write={write}
              open={() => setFolder(n.path.replace(/^\//, ""))}
              onChanged={list}
              run={outcome.run}
            />
          ))}
        </Table>
      )}
    </section>
  );
}

function FileRow(props: {
  node: FileNode;
  space: string;
  write: boolean;
  open: () => void;
  onChanged: () => Promise<unknown>;
  run: ReturnType<typeof useOutcome>["run"];
}) {
  const { node: n, run } = props;
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [share, setShare] = useState<string | null>(null);
  const [preview, setPreview] = useState(false);
  const [ai, setAi] = useState<FileNode["metadata"] | null>(null);
  const href = `/api/files/spaces/${encodeURIComponent(props.space)}/content/${enc(n.path)}`;
  return (
    <>
      <tr data-file={n.name}>
        <th scope="row">
          {n.kind === "folder" ? (
            <button type="button" class="link" onClick={props.open}>
              {n.name}/
            </button>
          ) : (
            n.name
          )}
        </th>
        <td>{n.kind === "folder" ? "–" : bytes(n.size)}</td>
        <td>{n.kind === "folder" ? "–" : n.version}</td>
        <td>{when(n.updatedAt)}</td>
        <td class="actions">
          {n.kind === "file" && (
            <a class="btn plain" href={href} download={n.name}>
              Download<span class="sr-only"> {n.name}</span>
            </a>
          )}
          {n.kind === "file" && (
            <Action label={`Media of ${n.name}`} onClick={() => setPreview(!preview)}>
              Media
            </Action>
          )}
          {n.kind === "file" && hasAi(n.metadata) && (
            <Action
              label={`AI analysis of ${n.name}`}
              onClick={() =>
                ai
                  ? setAi(null)
                  : run(async () =>
                      setAi((await get<{ node: FileNode }>(`/api/files/nodes/${n.id}`)).node.metadata),
                    )
              }
            >
              AI
            </Action>
          )}
          {n.kind === "file" && (
            <Action
              label={`Versions of ${n.name}`}
              onClick={() =>
                run(async () =>
                  setVersions(
                    (await get<{ versions: Version[] }>(`/api/files/nodes/${n.id}/versions`)).versions,
                  ),
                )
              }
            >
              Versions
            </Action>
          )}
          {props.write && n.kind === "file" && (
            <Action
              label={`Share ${n.name}`}
              onClick={() =>
                run(async () => {
                  const r = await post<{ share: { url: string } }>(`/api/files/nodes/${n.id}/shares`, {
                    expiresInSeconds: 7 * 86400,
                  });
                  setShare(new URL(r.share.url, location.origin).href);
                })
              }
            >
              Share link
            </Action>
          )}
          {props.write && (
            <Action
              kind="danger"
              label={`Delete ${n.name}`}
              onClick={() =>
                run(
                  () => del(`/api/files/nodes/${n.id}`).then(props.onChanged),
                  `${n.name} moved to the trash.`,
                )
              }
            >
              Delete
            </Action>
          )}
        </td>
      </tr>
      {(versions || share || preview || ai) && (
        <tr class="detail">
          <td colSpan={5}>
            {preview && <MediaPreview nodeId={n.id} name={n.name} />}
            {ai && <AiDetails name={n.name} metadata={ai} />}
            {share && (
              <p>
                Share link (valid 7 days): <code class="secret">{share}</code>
              </p>
            )}
            {versions && (
              <ul class="plain-list" aria-label={`Versions of ${n.name}`}>
                {versions.map((v) => (
                  <li key={v.version}>
                    v{v.version} — {bytes(v.size)}, {when(v.createdAt)}{" "}
                    <a href={`${href}?version=${v.version}`} download={n.name}>
                      download v{v.version}
                    </a>
                  </li>
                ))}
              </ul>
            )}
          </td>
        </tr>
      )}
    </>
  );
}
